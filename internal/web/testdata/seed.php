<?php
// Writes dashboard test data with REAL php-resque (chrisboulton/php-resque, the newest 1.x)
// and php-resque-scheduler from ../shared/thirdparty: what a PHP application and its
// workers leave in Redis. Not a goresque component.
//
//   php seed.php THIRDPARTY HOST:PORT PREFIX ACTION [ARGS...]
//
//   enqueue QUEUE CLASS ARGS_JSON          Resque::enqueue; prints the id
//   fail QUEUE CLASS ARGS_JSON MESSAGE     a php-resque worker records the job as failed
//                                          (Resque_Job::fail -> Resque_Failure_Redis)
//   working QUEUE CLASS ARGS_JSON          a php-resque worker registers and works on the job
//   delay SECONDS QUEUE CLASS ARGS_JSON    ResqueScheduler::enqueueIn
$tp = $argv[1];
// A stand-in for Composer's autoloader: php-resque's lib/ (PEAR-style names), credis,
// PSR-3 and the scheduler's lib/.
spl_autoload_register(function ($class) use ($tp) {
    if (strpos($class, 'Psr\\Log\\') === 0) {
        $f = $tp . '/psrlog/' . str_replace('\\', '/', $class) . '.php';
    } elseif (strpos($class, 'ResqueScheduler') === 0) {
        $f = $tp . '/php-resque-scheduler/lib/' . str_replace('_', '/', $class) . '.php';
    } elseif ($class === 'Credis_Client') {
        $f = $tp . '/credis/Client.php';
    } elseif ($class === 'Credis_Cluster') {
        $f = $tp . '/credis/Cluster.php';
    } else {
        $f = $tp . '/php-resque-1/lib/' . str_replace('_', '/', $class) . '.php';
    }
    if (file_exists($f)) {
        require_once $f;
    }
});
Resque::setBackend($argv[2]);
Resque_Redis::prefix($argv[3]);
$a = array_slice($argv, 5);
switch ($argv[4]) {
case 'enqueue':
    echo json_encode(Resque::enqueue($a[0], $a[1], json_decode($a[2], true)));
    break;
case 'fail':
    Resque::enqueue($a[0], $a[1], json_decode($a[2], true));
    $worker = new Resque_Worker(array($a[0]));
    $worker->setLogger(new Psr\Log\NullLogger());
    $worker->registerWorker();
    $job = $worker->reserve();
    $worker->workingOn($job);
    $job->fail(new RuntimeException($a[3]));
    $worker->doneWorking();
    $worker->unregisterWorker();
    echo json_encode(true);
    break;
case 'working':
    Resque::enqueue($a[0], $a[1], json_decode($a[2], true));
    $worker = new Resque_Worker(array($a[0]));
    $worker->setLogger(new Psr\Log\NullLogger());
    $worker->registerWorker();
    $worker->workingOn($worker->reserve());
    echo json_encode((string)$worker);
    break;
case 'delay':
    ResqueScheduler::enqueueIn((int)$a[0], $a[1], $a[2], json_decode($a[3], true));
    echo json_encode(true);
    break;
default:
    fwrite(STDERR, "unknown action\n");
    exit(2);
}
