<?php
// A class ported to Go and still deployed in PHP (routing tests): the PHP side appends
// "php <n>" to args['file'], the Go handler of the same class writes "go <n>".
class Route_Mark
{
    public function perform()
    {
        file_put_contents($this->args['file'], 'php ' . $this->args['n'] . "\n", FILE_APPEND | LOCK_EX);
    }
}
