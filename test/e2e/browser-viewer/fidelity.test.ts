/**
 * Fidelity of the original four pages (demo page, long article, form-heavy app, CSS-in-JS via
 * CSSOM) on a loopback origin: the visitor's page and the agent's view compared pixel by pixel
 * (test/helpers/fidelityCheck.ts says how). The realistic pages are fidelityHttps/fidelityHttp.
 */
import { fidelityTest } from '../../helpers/fidelityCheck.ts';

fidelityTest('basic');
