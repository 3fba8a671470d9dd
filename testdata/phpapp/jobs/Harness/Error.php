<?php
class Harness_Error
{
    public function perform()
    {
        return harness_no_such_function();
    }
}
