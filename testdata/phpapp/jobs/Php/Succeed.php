<?php
class Php_Succeed
{
    public function perform()
    {
        echo "hello from PHP, ", $this->args['name'], "\n";
        return 'php:' . $this->args['name'];
    }
}
