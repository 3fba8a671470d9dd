<?php
// The seed tutorial's first job: output without a trailing newline.
class HelloJob implements Job
{
    function perform()
    {
        echo "Hello world";
    }
}
