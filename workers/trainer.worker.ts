// Entry of the dedicated module worker the page runs the engine in: one session, exposed
// through comlink. The page wraps it as Remote<TrainerSessionApi> (src/app/session-client.ts).
import { expose } from 'comlink';
import { TrainerSession } from './session.ts';

expose(new TrainerSession());
