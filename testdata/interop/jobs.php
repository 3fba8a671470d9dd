<?php
// APP_INCLUDE of the php-resque worker in goresque's interoperability test.
class Interop_PhpJob
{
    public $args;
    public function perform()
    {
        return 'php-ok:' . $this->args['x'];
    }
}
