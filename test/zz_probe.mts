import { BSON } from 'mongodb';
console.log(BSON.deserialize(BSON.serialize({ _id: 'x', agentKey: undefined }, { ignoreUndefined: false })));
console.log(BSON.deserialize(BSON.serialize({ _id: 'x', agentKey: undefined }, { ignoreUndefined: true })));
