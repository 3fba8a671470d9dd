<?php
class Php_Sleep
{
    public function perform()
    {
        usleep((int)($this->args['seconds'] * 1000000));
        return 'slept';
    }
}
