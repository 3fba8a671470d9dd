<?php
// Chaos_PhpJob is the PHP twin of the chaos driver's Go Chaos_Job (internal/chaos): the
// driver enqueues it so that its faults also hit jobs running in PHP processes, and accounts
// for it exactly as for the Go job. Each execution
//   1. adds a token unique to the execution to the set <GORESQUE_CHAOS_RUNS_KEY><job id>,
//      retrying until Redis acknowledged it: SADD of the same token is idempotent, so a
//      connection killed before the reply (CLIENT KILL) neither loses nor doubles a run;
//   2. sleeps 0..GORESQUE_CHAOS_MAX_SLEEP_US microseconds, so that kills land mid-job;
//   3. returns the token: the status packet's result names the execution that completed it.
// The driver sets these variables in the worker's environment, which PHP processes inherit;
// GORESQUE_CHAOS_REDIS is "unix:/path/to/socket" or "tcp:host:port". No extension: a few
// lines of RESP over stream_socket_client.
class Chaos_PhpJob
{
    /** @var resource|null kept across the jobs of a warm process (isolation none) */
    private static $conn = null;
    private static $seq = 0;

    public function perform()
    {
        $id = $this->job->payload['id'];
        // "php/<pid>/...": the driver finds the job a forked child ran by its pid. The random
        // part keeps tokens unique when pids are reused, and in forked children, which all
        // inherit the same $seq from their warm parent.
        $token = 'php/' . getmypid() . '/' . $this->job->worker . '/' . (++self::$seq) . '-' . bin2hex(random_bytes(4));
        $key = getenv('GORESQUE_CHAOS_RUNS_KEY') . $id;
        for ($delay = 5000; !self::sadd($key, $token); $delay = min(2 * $delay, 500000)) {
            usleep($delay);
        }
        $max = (int)getenv('GORESQUE_CHAOS_MAX_SLEEP_US');
        if ($max > 0) {
            usleep(random_int(0, $max));
        }
        return $token;
    }

    /** SADD key member; false when the connection failed (the caller retries on a new one). */
    private static function sadd($key, $member)
    {
        if (self::$conn === null) {
            list($network, $addr) = explode(':', getenv('GORESQUE_CHAOS_REDIS'), 2);
            $conn = @stream_socket_client(($network === 'unix' ? 'unix://' : 'tcp://') . $addr, $errno, $errstr, 5);
            if ($conn === false) {
                return false;
            }
            stream_set_timeout($conn, 5);
            self::$conn = $conn;
        }
        $cmd = "*3\r\n\$4\r\nSADD\r\n";
        foreach (array($key, $member) as $arg) {
            $cmd .= '$' . strlen($arg) . "\r\n" . $arg . "\r\n";
        }
        // @: a write on a killed connection is an expected failure, not output to log.
        $reply = @fwrite(self::$conn, $cmd) === strlen($cmd) ? fgets(self::$conn) : false;
        if ($reply === false || $reply === '') {
            @fclose(self::$conn);
            self::$conn = null;
            return false;
        }
        if ($reply[0] !== ':') { // an error reply: retrying would not help
            throw new RuntimeException('redis: ' . trim($reply));
        }
        return true;
    }
}
