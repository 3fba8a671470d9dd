<?php
class Php_Noop
{
    public function perform()
    {
    }
}
