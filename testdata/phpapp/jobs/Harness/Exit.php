<?php
class Harness_Exit
{
    public function perform()
    {
        exit((int)$this->args['code']);
    }
}
