<?php
// The seed tutorial's job interface, named Job as there: the bridge must not clash with it.
interface Job
{
    public function perform();
}
