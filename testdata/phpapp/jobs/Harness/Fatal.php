<?php
class Harness_Fatal
{
    public function perform()
    {
        ini_set('memory_limit', '16M');
        $s = str_repeat('x', 64 * 1024 * 1024);
        return strlen($s);
    }
}
