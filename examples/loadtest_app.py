"""The seed lab's loadtest function, reduced to the two functions the lab changes.

getUserName() and getPassword() are the lab's code exactly as it leaves them in tasks 3.3
and 4.4. Run it the way Lambda runs the function:

    keyward exec --function loadtest --role-arn arn:aws:iam::000000000000:role/loadtest \
        -- python3 examples/loadtest_app.py

(see the README's walkthrough). It prints what the lab's log shows.
"""

import json
import os
from base64 import b64decode

import boto3


def getUserName():
    userName = os.environ['USER_NAME']
    try:
        print("UserName provided:" + userName)
        decrypted_User = boto3.client('kms').decrypt(
            CiphertextBlob=b64decode(userName),
            EncryptionContext={'LambdaFunctionName':os.environ['AWS_LAMBDA_FUNCTION_NAME']})['Plaintext'].decode('utf-8')
        print("UserName decrypted using KMS key:" + str(decrypted_User))
        return decrypted_User
    except Exception as e:
        print("ExceptionSecret exception for {} {}".format(userName, e))


def getPassword(userName):
    try:
        secret = boto3.client('secretsmanager')
        secretString = json.loads(secret.get_secret_value(SecretId=userName).get('SecretString'))
        if 'Password' in secretString:
            password = secretString['Password']
            print("Password retrieved from Secrets Manager:" + password)
        return password
    except Exception as e:
        print("ExceptionSecret exception for {} {}".format(userName, e))


if __name__ == "__main__":
    user = getUserName()
    getPassword(user)
