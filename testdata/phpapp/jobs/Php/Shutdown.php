<?php
// What PHP does when a job's process (or forked child) exits: shutdown functions, then
// destructors, then output buffers flushed. Each step appends to args.file and prints.
class Php_Shutdown_Probe
{
    public $file;
    public $fatal;

    public function __destruct()
    {
        file_put_contents($this->file, "destruct\n", FILE_APPEND);
        echo "from destructor\n";
        if ($this->fatal) {
            goresque_no_such_function();
        }
    }
}

class Php_Shutdown
{
    public function perform()
    {
        $file = $this->args['file'];
        register_shutdown_function(function () use ($file) {
            file_put_contents($file, "shutdown\n", FILE_APPEND);
            echo "from shutdown function\n";
        });
        $probe = new Php_Shutdown_Probe();
        $probe->file = $file;
        $probe->fatal = !empty($this->args['fatal']);
        $GLOBALS['goresque_probe'] = $probe;
        ob_start();
        echo "buffered in perform";
        return 'done';
    }
}
