// Command-line and environment settings of the bench workers (bench/*.mjs).

// `--name value` pairs into o.name; the other words, in order, into o._ (absent when none).
export function options(argv) {
    const o = {};
    for (let i = 0; i < argv.length; i++) {
        if (argv[i].startsWith('--')) o[argv[i].slice(2)] = argv[++i];
        else (o._ ??= []).push(argv[i]);
    }
    return o;
}

// The environment variable `name` as a positive whole number, `def` when unset; anything else throws.
export function envInt(name, def) {
    const v = process.env[name] ?? String(def);
    if (!/^[1-9][0-9]*$/.test(v)) throw new Error(`${name} must be a positive whole number, not '${v}'`);
    return Number(v);
}
