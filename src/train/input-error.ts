// Input a person has to fix (a setting, a dataset, a checkpoint that does not fit the loaded
// dataset and model), as opposed to a failure of the machine (GPU, storage, network). The page
// shows both the same way; the CLI exits 2 for these and 1 for the rest.

export class TrainingInputError extends Error {
  override name = 'TrainingInputError';
}
