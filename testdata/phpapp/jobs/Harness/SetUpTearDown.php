<?php
class Harness_SetUpTearDown
{
    public function setUp()
    {
        file_put_contents($this->args['marker'], "setUp\n", FILE_APPEND);
    }
    public function perform()
    {
        file_put_contents($this->args['marker'], "perform\n", FILE_APPEND);
        return 'ok';
    }
    public function tearDown()
    {
        file_put_contents($this->args['marker'], "tearDown\n", FILE_APPEND);
    }
}
