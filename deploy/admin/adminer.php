<?php
/*
 * Adminer for `make run`: the PostgreSQL web admin of machines without Docker (where Docker is used,
 * pgAdmin takes this role; see docker-compose.yml). scripts/admin-tools.sh serves this file with PHP's
 * built-in server on 127.0.0.1 only, as the router of every request; Adminer itself comes from
 * Debian's `adminer` package.
 *
 * Environment (set by scripts/admin-tools.sh):
 *   ADMINER_PHP     Adminer's single-file build (default /usr/share/adminer/adminer.php)
 *   ADMINER_SERVER  host:port of the PostgreSQL the login form is filled in for (127.0.0.1:5433)
 *   ADMINER_USER    its user (cacheme)
 *   ADMINER_DB      its database (cacheme)
 */

/** Adminer calls this once its own classes are defined, to get the object that customises it. */
function adminer_object()
{
    class CachemeAdminer extends Adminer
    {
        /** The name at the top of every page. */
        function name()
        {
            return 'cacheme';
        }

        /*
         * The login form starts filled in for the private PostgreSQL of `make run` (Adminer's own
         * defaults are MySQL on localhost), so it only needs "Login". Values given in the address
         * (?pgsql=host&username=...&db=...) still win.
         */
        function loginFormField($name, $heading, $value)
        {
            $defaults = array(
                'server' => getenv('ADMINER_SERVER') ?: '127.0.0.1:5433',
                'username' => getenv('ADMINER_USER') ?: 'cacheme',
                'db' => getenv('ADMINER_DB') ?: 'cacheme',
            );
            if ($name === 'driver' && DRIVER === 'server' && (string) SERVER === '') {
                $value = preg_replace('/ selected(?=[ >])/', '', $value);
                $value = preg_replace('/(<option value=["\']?pgsql["\']?)/', '$1 selected', $value);
            } elseif (isset($defaults[$name])) {
                $value = str_replace('value=""', 'value="' . h($defaults[$name]) . '"', $value);
            }
            return $heading . $value;
        }

        /*
         * Adminer refuses an empty password by default. The private PostgreSQL of `make run` has
         * none (trust authentication, 127.0.0.1 only), and this server listens on 127.0.0.1 only,
         * so an empty password is accepted for PostgreSQL; a server that wants one still asks for
         * it. Other systems keep Adminer's rule.
         */
        function login($login, $password)
        {
            return DRIVER === 'pgsql' ? true : parent::login($login, $password);
        }
    }
    return new CachemeAdminer();
}

include getenv('ADMINER_PHP') ?: '/usr/share/adminer/adminer.php';
