// `npm run cli -- <command> ...`: Node entry points on the same engine as the page.
// Each command lives in its own file and is loaded only when asked for.

const commands: Record<string, { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> }> = {
};

function usage(): string {
  return ['usage: npm run cli -- <command> [options]', '', ...Object.values(commands).map((c) => `  ${c.summary}`)].join('\n');
}

const [name, ...args] = process.argv.slice(2);
const command = name ? commands[name] : undefined;
if (!command) {
  console.error(name ? `Unknown command "${name}".\n${usage()}` : usage());
  process.exit(2);
}
const module = await command.load();
process.exitCode = await module.run(args);
