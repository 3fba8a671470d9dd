<?php
// The PHP class the README's Go handler ports (README: "Porting a job to Go", "Migrating a
// class"), so the guide's commands run against a real PHP class.
namespace App\Jobs;

class SendMail
{
    public function perform()
    {
        echo "PHP mail for ", $this->args['to'], "\n";
        return 'sent to ' . $this->args['to'];
    }
}
