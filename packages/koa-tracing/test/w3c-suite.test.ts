import { w3cRules } from './fixtures/w3c-rules.js';

w3cRules({ sdk: false });
