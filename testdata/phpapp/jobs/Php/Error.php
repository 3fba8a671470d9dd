<?php
// Throws PHP's Error (not an Exception), as golden scenario 10.
class Php_Error
{
    public function perform()
    {
        return goresque_no_such_function();
    }
}
