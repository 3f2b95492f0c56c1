// The console's sections. Each is {id, title, render(main)}; the nav and the
// router are built from this list, so the history and audit views of the v1
// API (issue 11) plug in by adding an entry once the server has the routes.
import secrets from './secrets.js';
import jobs from './jobs.js';

export default [secrets, jobs];
