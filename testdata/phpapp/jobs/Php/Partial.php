<?php
// Output on both streams, the last line of each without a newline, for the bridge's
// per-job output attribution.
class Php_Partial
{
    public function perform()
    {
        echo "out one\nout two";
        fwrite(STDERR, "err one\nerr two");
        if (!empty($this->args['buffered'])) {
            ob_start(); // left open by the job: flushed when the job ends
            echo " buffered";
        }
        if (!empty($this->args['exit'])) {
            exit(0);
        }
    }
}
