<?php
class Harness_DontPerform
{
    public function setUp()
    {
        throw new Resque_Job_DontPerform();
    }
    public function perform()
    {
        return 'never';
    }
}
