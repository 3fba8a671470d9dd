<?php
// Reports the process and a static counter: shows what each process model isolates.
class Php_State
{
    private static $count = 0;
    public function perform()
    {
        self::$count++;
        return array('pid' => getmypid(), 'count' => self::$count);
    }
}
