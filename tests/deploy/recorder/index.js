// A stand-in for the devsapp/fc (s 2.x) and fc3 (s 3.x) components in the CLI-render tests:
// it deploys nothing and writes what `s` hands it (the rendered props) to
// $ROLEPACT_S_RECORD_DIR/<resource>.json. Seeded into a throwaway HOME by cli_support.py.
'use strict';
const fs = require('fs');
const path = require('path');

class Recorder {
  constructor(options) {
    this.logger = options && options.logger;  // s 3.x hands its logger to the component (fc3 src/base.ts)
  }

  async deploy(inputs) {
    if (this.logger) {  // as fc3 does in handlePreRun: the props it deploys, at debug level
      this.logger.debug(`handle pre run config: ${JSON.stringify(inputs.props)}`);
    }
    const name = (inputs.resource && inputs.resource.name) || (inputs.project && inputs.project.projectName);
    // the file the component reads paths against: fc (fc-deploy) takes dirname(path.configPath),
    // fc3 dirname(yaml.path) (src/base.ts handlePreRun)
    const configPath = (inputs.path && inputs.path.configPath) || (inputs.yaml && inputs.yaml.path);
    const record = { resource: name, props: inputs.props, configPath };
    fs.writeFileSync(path.join(process.env.ROLEPACT_S_RECORD_DIR, `${name}.json`), JSON.stringify(record, null, 1));
    return { recorded: name };
  }
}

module.exports = Recorder;
