// A stand-in for the devsapp/fc (s 2.x) and fc3 (s 3.x) components in the CLI-render tests:
// it deploys nothing and writes what `s` hands it (the rendered props) to
// $ROLEPACT_S_RECORD_DIR/<resource>.json. Seeded into a throwaway HOME by cli_support.py.
'use strict';
const fs = require('fs');
const path = require('path');

class Recorder {
  async deploy(inputs) {
    const name = (inputs.resource && inputs.resource.name) || (inputs.project && inputs.project.projectName);
    const record = { resource: name, props: inputs.props };
    fs.writeFileSync(path.join(process.env.ROLEPACT_S_RECORD_DIR, `${name}.json`), JSON.stringify(record, null, 1));
    return { recorded: name };
  }
}

module.exports = Recorder;
