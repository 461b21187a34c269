// A team's own image, as an example to copy: the minimal builder plus the company's root CA (so
// curl, git and apt in jobs trust the company's internal servers) and a tool from the company's
// own apt repository, signed by the company's archive key. docs/customizing-images.md walks
// through it. The repository's address and key come from the environment, as a CI job would pass
// them (COMPANY_APT_URL, COMPANY_APT_KEY, and optionally COMPANY_APT_FINGERPRINT to pin the key).
import { defineRecipe } from '../pipeline/recipe/define.ts';
import minimal from './minimal.ts';

export default defineRecipe({
  ...minimal,
  name: 'company-builder',
  packages: [...minimal.packages, 'ca-certificates', 'company-tools'],
  repositories: [
    {
      name: 'company',
      uri: process.env.COMPANY_APT_URL ?? 'https://apt.company.example/debian',
      suites: ['stable'],
      components: ['main'],
      key: process.env.COMPANY_APT_KEY ?? 'company/company-archive-keyring.asc',
      ...(process.env.COMPANY_APT_FINGERPRINT ? { fingerprint: process.env.COMPANY_APT_FINGERPRINT } : {}),
    },
  ],
  steps: [
    {
      // update-ca-certificates adds every certificate under /usr/local/share/ca-certificates to the
      // system bundle (/etc/ssl/certs/ca-certificates.crt) that OpenSSL, curl, git and apt read.
      name: 'company-ca',
      files: [{ from: 'company/company-root-ca.crt', to: '/usr/local/share/ca-certificates/company-root-ca.crt' }],
      run: ['update-ca-certificates'],
    },
  ],
});
