<?php
// The golden recordings' job classes (../shared/golden), rewritten from their described
// behaviour, so the bridge runs the same scenarios php-resque ran.
class Harness_Succeed
{
    public function perform()
    {
        if (isset($this->args['sleep'])) {
            usleep((int)($this->args['sleep'] * 1000000));
        }
        return 'ok';
    }
}
