// `npm run cli -- <command> ...`: Node entry points on the same engine as the page.
// Each command lives in its own file and is loaded only when asked for.

type Command = { run(args: string[]): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  dataset: { summary: 'dataset <zip-or-folder> [--split test] [--noun currency] [--jsonl]   check a COCO dataset, print its report or Q&A pairs', load: () => import('./dataset-command.ts') },
  infer: { summary: 'infer --model <folder|hub:owner/repo@revision> --image <file> --question "…" [--max-tokens N] [--temperature T] [--constrain counts --classes a,b] [--verbose]   answer a question about an image', load: () => import('./infer-command.ts') },
  export: { summary: 'export --out <dir> [--model <folder|hub:…> --adapter <file> [--merged]] [--dataset <zip|folder>]   PEFT adapter, merged model, dataset JSONL zip', load: () => import('./export-command.ts') },
  train: { summary: 'train --model <folder|hub:…> --dataset <zip|folder> [--out DIR] [--lora-rank R] [--full] [--lr X] [--epochs N] [--limit-train N] [--limit-test N] [--max-tokens N] [--constrain counts] [--noun NOUN] [--resume]   measure, fine-tune, measure again, export the adapter', load: () => import('./train-command.ts') },
};

function usage(): string {
  return ['usage: npm run cli -- <command> [options]', '', ...Object.values(commands).map((c) => `  ${c.summary}`)].join('\n');
}

const [commandName, ...commandArgs] = process.argv.slice(2);
const entry = commandName ? commands[commandName] : undefined;
if (!entry) {
  console.error(commandName ? `Unknown command "${commandName}".\n${usage()}` : usage());
  process.exit(2);
}
const command = await entry.load();
process.exitCode = await command.run(commandArgs);

export {};
