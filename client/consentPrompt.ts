/** The one wording of the consent prompt, whether the relay or this page's `requireConsent` asks. */
import type { Answer, Prompts } from './ui/prompt.ts';

/** `e2eCode`: the verification code of an end-to-end encrypted session (client/e2e/gate.ts), shown for the visitor to compare. */
export function askConsent(prompts: Prompts, agentId: string, name: string, e2eCode?: string): Promise<Answer> {
  return prompts.ask(
    `consent:${agentId}`,
    `${name} wants to see this page`,
    'They will see this page as you do, with passwords and form entries hidden. You can stop sharing at any time.' +
      (e2eCode ? ` End-to-end encrypted: the relay cannot see this page. Verification code: ${e2eCode}. If the agent reads out a different code, deny.` : ''),
  );
}
