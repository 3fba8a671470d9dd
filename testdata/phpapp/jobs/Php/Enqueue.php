<?php
// Enqueues another job from inside perform(), as golden scenario 16.
class Php_Enqueue
{
    public function perform()
    {
        return Resque::enqueue('default', 'Php_Succeed', array('name' => 'child'), true);
    }
}
