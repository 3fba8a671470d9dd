<?php
class Harness_Throw
{
    public function perform()
    {
        throw new Exception($this->args['message']);
    }
}
