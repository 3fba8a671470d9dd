<?php
// Keeps 8 MB more in a static array on every job: a leak the pool must recycle away.
class Php_Leak
{
    private static $keep = array();
    public function perform()
    {
        self::$keep[] = str_repeat('x', 8 * 1024 * 1024);
        return count(self::$keep);
    }
}
