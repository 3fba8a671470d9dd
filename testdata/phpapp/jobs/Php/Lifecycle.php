<?php
// Records the order of setUp, perform and tearDown, and what the job object looks like.
class Php_Lifecycle
{
    private $calls = array();
    private $seen;
    public function setUp()
    {
        $this->calls[] = 'setUp';
    }
    public function perform()
    {
        $this->calls[] = 'perform';
        $this->seen = array(
            'queue' => $this->queue,
            'args' => $this->args,
            'job_class' => get_class($this->job),
            'job_queue' => $this->job->queue,
            'job_id' => isset($this->job->payload['id']) ? $this->job->payload['id'] : null,
            'arguments' => $this->job->getArguments(),
        );
        return null;
    }
    public function tearDown()
    {
        $this->calls[] = 'tearDown';
        file_put_contents($this->args['file'], json_encode(array('calls' => $this->calls, 'seen' => $this->seen)));
    }
}
