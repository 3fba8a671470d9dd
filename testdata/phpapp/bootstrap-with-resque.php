<?php
// The same application, loading (a stand-in for) php-resque itself, as many applications'
// bootstraps do: the bridge must then use the application's Resque_Job, Resque_Event and
// Resque::enqueue, and must not declare any of those classes itself.
require __DIR__ . '/bootstrap.php';
require __DIR__ . '/fake-resque/Resque.php';
Resque_Event::listen('beforePerform', function ($job) {
    fwrite(STDERR, "event beforePerform " . get_class($job) . "\n");
});
