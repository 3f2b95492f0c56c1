// The console's sections. Each is {id, title, render(main), reset()}; the nav
// and the router are built from this list.
import secrets from './secrets.js';
import audit from './audit.js';
import jobs from './jobs.js';
import jobdefs from './jobdefs.js';
import tokens from './tokens.js';
import trusts from './trusts.js';

export default [secrets, audit, jobs, jobdefs, tokens, trusts];
