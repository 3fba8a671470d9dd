<?php
class Php_Exit
{
    public function perform()
    {
        exit((int)$this->args['code']);
    }
}
