/**
 * Fidelity of the five realistic pages built from real front-end packages (test/fixtures/fidelity/),
 * served over http under a public-looking host name with no CORS headers: the visitor's page and the
 * agent's view compared pixel by pixel (test/helpers/fidelityCheck.ts says how).
 */
import { fidelityTest } from '../../helpers/fidelityCheck.ts';

fidelityTest('http');
