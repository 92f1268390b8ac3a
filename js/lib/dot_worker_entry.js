// The Web Worker's script (bundled as text into the widgets that start one: see dot_threads.js).
import { serve } from "./dot_worker.js";

serve(self);
