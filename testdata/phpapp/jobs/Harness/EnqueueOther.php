<?php
class Harness_EnqueueOther
{
    public function perform()
    {
        return Resque::enqueue($this->queue, $this->args['class'], $this->args['args'], $this->args['track']);
    }
}
