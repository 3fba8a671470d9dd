<?php
// APP_INCLUDE of the PHP application goresque's bridge tests run: an autoloader for the job
// classes in jobs/, the way a Composer autoloader would load an application's classes.
spl_autoload_register(function ($class) {
    $file = __DIR__ . '/jobs/' . str_replace(array('\\', '_'), '/', $class) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
