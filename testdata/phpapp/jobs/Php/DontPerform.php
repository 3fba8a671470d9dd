<?php
class Php_DontPerform
{
    public function setUp()
    {
        throw new Resque_Job_DontPerform('not today');
    }
    public function perform()
    {
        throw new RuntimeException('perform must not run after DontPerform');
    }
}
