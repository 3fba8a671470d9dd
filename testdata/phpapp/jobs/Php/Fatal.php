<?php
// A fatal error that no catch can handle: memory exhausted (exit code 255).
class Php_Fatal
{
    public function perform()
    {
        ini_set('memory_limit', '16M');
        $s = str_repeat('x', 64 * 1024 * 1024);
        return strlen($s);
    }
}
