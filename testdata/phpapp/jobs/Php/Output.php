<?php
class Php_Output
{
    public function perform()
    {
        echo "line on stdout\n";
        fwrite(STDERR, "line on stderr\n");
        return 'printed';
    }
}
