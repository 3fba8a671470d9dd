<?php
// Runs php-resque's bin/resque (the first argument) as its users do, with a stand-in for
// Composer's autoloader: ../shared/thirdparty has no vendor/ directory. Loads php-resque's
// lib/, Credis and psr/log from their folders beside it.
namespace Composer\Autoload {
    class ClassLoader
    {
    }
}

namespace {
    $bin = $argv[1];
    $dir = dirname(dirname($bin));
    $third = dirname($dir);
    spl_autoload_register(function ($class) use ($dir, $third) {
        if (strncmp($class, 'Credis_', 7) === 0) {
            $file = $third . '/credis/' . substr($class, 7) . '.php';
        } elseif (strncmp($class, 'Psr\\', 4) === 0) {
            $file = $third . '/psrlog/' . str_replace('\\', '/', $class) . '.php';
        } else {
            $file = $dir . '/lib/' . str_replace('_', '/', $class) . '.php';
        }
        if (is_file($file)) {
            require $file;
        }
    });
    $argv = array_slice($argv, 1);
    $argc = count($argv);
    require $bin;
}
