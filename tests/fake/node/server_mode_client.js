const Sts = require('@alicloud/sts20150401');
const Ram = require('@alicloud/ram20150501');
const { Config } = require('@alicloud/openapi-client');
const OSS = require('ali-oss');
const port = process.argv[2], ak = process.argv[3], sk = process.argv[4];
(async () => {
  const cfg = new Config({ accessKeyId: ak, accessKeySecret: sk, endpoint: `127.0.0.1:${port}`, protocol: 'http', regionId: 'cn-hangzhou' });
  const sts = new Sts.default(cfg);
  const id = await sts.getCallerIdentity();
  console.log('sts', id.body.arn, id.body.identityType);
  const ram = new Ram.default(cfg);
  await ram.createRole(new Ram.CreateRoleRequest({ roleName: 'node-role', assumeRolePolicyDocument: JSON.stringify({Version: '1', Statement: [{Effect: 'Allow', Action: 'sts:AssumeRole', Principal: {RAM: ['acs:ram::1345678901234567:root']}}]}) }));
  const got = await ram.getRole(new Ram.GetRoleRequest({ roleName: 'node-role' }));
  console.log('ram', got.body.role.arn);
  const list = await ram.listRoles(new Ram.ListRolesRequest({ maxItems: 10 }));
  console.log('roles', list.body.roles.role.map(r => r.roleName).join(','));
  try { await ram.getRole(new Ram.GetRoleRequest({ roleName: 'missing' })); } catch (e) { console.log('err', e.code, e.statusCode); }
  const bad = new Sts.default(new Config({ accessKeyId: ak, accessKeySecret: 'wrong', endpoint: `127.0.0.1:${port}`, protocol: 'http', regionId: 'cn-hangzhou' }));
  try { await bad.getCallerIdentity(); } catch (e) { console.log('badsig', e.code, e.statusCode); }
  const oss = new OSS({ accessKeyId: ak, accessKeySecret: sk, endpoint: `http://127.0.0.1:${port}`, bucket: 'node-bucket', cname: false, region: 'oss-cn-hangzhou' });
  try {
    await oss.putBucket('node-bucket');
    await oss.put('agreements/x.json', Buffer.from('{"a":1}'));
    const r = await oss.get('agreements/x.json');
    console.log('oss', r.content.toString());
    const l = await oss.list({ prefix: 'agreements/' });
    console.log('oss list', l.objects.map(o => o.name).join(','));
  } catch (e) { console.log('osserr', e.name, e.code, e.status, e.message); }
})().catch(e => { console.error('FAIL', e.code, e.message); process.exit(1); });
