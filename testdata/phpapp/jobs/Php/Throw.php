<?php
class Php_Throw
{
    public function perform()
    {
        throw new RuntimeException($this->args['message']);
    }
}
